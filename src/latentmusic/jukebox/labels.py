"""Conditioning labels: artist/genre vocabularies, timing, and lyrics as character tokens.

Jukebox conditions on who plays (artist), what style (genre), where in the song a window
lies (timing) and what is sung (lyrics, as characters). Here the labels come from the
data set: genre is the domain (instrument) of a ``latentmusic data domains`` set or the
top-level folder of a user's audio; artist is the composer / collection a manifest
names, else a sub-folder, else the collection name; a manifest entry may set ``artist``,
``genre`` and ``lyrics`` explicitly, and ``song.txt`` beside ``song.wav`` gives lyrics.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from latentmusic.errors import InputError

# Character vocabulary for lyrics: 0 = padding, 1 = start of text, 2 = unknown character.
PAD, BOS, UNK = 0, 1, 2
LYRIC_CHARS = "abcdefghijklmnopqrstuvwxyz0123456789äöüßéèàâêîôûçñ .,;:!?'\"-()\n"
LYRIC_VOCAB = 3 + len(LYRIC_CHARS)
_CHAR_INDEX = {c: i + 3 for i, c in enumerate(LYRIC_CHARS)}


def normalize_lyrics(text: str) -> str:
    """Lower-case, NFC-normalised, runs of spaces collapsed (line breaks kept)."""
    text = unicodedata.normalize("NFC", text).lower().replace("\r", "")
    lines = [" ".join(line.split()) for line in text.split("\n")]
    return "\n".join(line for line in lines if line)


def lyric_ids(text: str) -> list[int]:
    """Every character of the normalised text as an id (unknown characters -> UNK)."""
    return [_CHAR_INDEX.get(c, UNK) for c in normalize_lyrics(text)]


def lyrics_window(
    text: str, n_tokens: int, start: float = 0.0, duration: float = 1.0, total: float = 1.0
) -> np.ndarray:
    """The ``n_tokens`` lyric tokens for a window of a song, aligned linearly in time.

    Jukebox's ``get_relevant_lyric_tokens``: with no word timings, the characters are
    assumed spread evenly over the song, and the window gets the ``n_tokens - 1``
    characters centred on its midpoint (after a BOS token; shorter texts are padded).
    """
    ids = lyric_ids(text)
    out = np.full(n_tokens, PAD, dtype=np.int64)
    out[0] = BOS
    room = n_tokens - 1
    if not ids or room <= 0:
        return out
    if len(ids) > room:
        centre = len(ids) * (start + duration / 2) / max(total, 1e-9)
        lo = int(np.clip(round(centre - room / 2), 0, len(ids) - room))
        ids = ids[lo : lo + room]
    out[1 : 1 + len(ids)] = ids
    return out


@dataclass(frozen=True)
class LabelVocab:
    """The artists and genres a model was trained with (saved in the checkpoint)."""

    artists: tuple[str, ...]
    genres: tuple[str, ...]

    def artist_id(self, artist: str | None) -> int:
        return _lookup(artist, self.artists, "artist")

    def genre_id(self, genre: str | None) -> int:
        return _lookup(genre, self.genres, "genre")

    def to_extra(self) -> dict[str, list[str]]:
        return {"artists": list(self.artists), "genres": list(self.genres)}

    @classmethod
    def from_extra(cls, extra: dict) -> LabelVocab:
        return cls(
            tuple(extra.get("artists") or ["unknown"]), tuple(extra.get("genres") or ["unknown"])
        )


def _lookup(value: str | None, known: Sequence[str], what: str) -> int:
    """Index of ``value`` in ``known``; None picks the only label when there is just one."""
    if value is None:
        if len(known) == 1:
            return 0
        article = "an" if what[:1] in "aeiou" else "a"
        raise InputError(f"Choose {article} {what}; this model knows: {', '.join(known)}.")
    if value in known:
        return known.index(value)
    folded = {k.lower(): i for i, k in enumerate(known)}
    if value.lower() in folded:
        return folded[value.lower()]
    raise InputError(f"Unknown {what} '{value}'; this model knows: {', '.join(known)}.")


def chorale_lyrics(piece_ids: Sequence[str]) -> dict[str, str]:
    """Soprano lyrics of Bach chorales by piece id (music21 corpus, cached after one parse)."""
    from latentmusic.midi.corpus import chorale_items, load_piece

    wanted = set(piece_ids)
    out: dict[str, str] = {}
    for item in chorale_items():
        if item.id in wanted:
            piece = load_piece(item)
            if piece is not None and piece.lyrics:
                out[item.id] = piece.lyrics
    return out
