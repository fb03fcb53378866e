"""The shared page renderer: plain text in, escaped HTML out, several tables per section."""

from __future__ import annotations

from latentmusic.report import Item, Row, Section, Table, render_page


def test_render_page_escapes_text_shows_every_table_and_times_only_timed_sections() -> None:
    timed = Section("demo", "Demo", seconds=3.2)
    report = Section(
        "r",
        "Scores <b>",
        intro="a < b & c",
        table=[{"system": "model", "score": 0.123456, "missing": None}],
        tables=[Table([{"pair": "a -> b", "n": 2}], "Per pair"), Table([{"x": "y"}], "Extra")],
        rows=[Row("Listen", [Item("audio", 'say "hi"', "a.wav", image="a.png")])],
    )
    page = render_page([timed, report], "Title & co", "")

    assert "<b>" not in page and "Scores &lt;b&gt;" in page
    assert "a &lt; b &amp; c" in page and "a -&gt; b" in page and "Title &amp; co" in page
    assert 'alt="say &quot;hi&quot;"' in page
    assert page.count("<table>") == 3 and "<h3>Per pair</h3>" in page and "<h3>Extra</h3>" in page
    assert "<td>0.1235</td>" in page and "<td>-</td>" in page
    assert page.count("<audio") == 1 and page.count("<img") == 1
    assert page.count("Built in") == 1 and "Built in 3 s." in page
