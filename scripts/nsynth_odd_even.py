"""Does a harmonic NSynth model hear and play the odd/even balance of a note?
(``latentmusic.nsynth.odd_even``: combed training notes, and one unseen test note)

    python scripts/nsynth_odd_even.py models/nsynth-harmonic \
        --data data/notes-fluidr3-wide --eval-data data/notes-fluidr3 [--json out.json]

Prints the odd-minus-even level (harmonics 1, 3, 5, 7 against 2, 4, 6, 8, dB) of combed
training notes and of their reconstructions, and the unseen note's harmonics over its
fundamental with the instrument judge's probability of the right instrument.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from latentmusic.errors import LatentMusicError


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model", help="a harmonic model: a run folder, models/NAME or NAME")
    parser.add_argument("--data", type=Path, required=True, help="note set of the combed notes")
    parser.add_argument("--eval-data", type=Path, help="note set of the unseen note (--data)")
    parser.add_argument("--pitch", type=int, default=60, help="MIDI pitch of the combed notes")
    parser.add_argument(
        "--unseen", default="reed", help="part of a test instrument_str (reed: the clarinet)"
    )
    parser.add_argument("--unseen-pitch", type=int, default=72)
    parser.add_argument("--json", type=Path, help="also write the numbers here")
    args = parser.parse_args(argv)

    from latentmusic.fileio import write_json
    from latentmusic.nsynth.odd_even import OddEvenOptions, odd_even_check
    from latentmusic.nsynth.verbs import load_model

    try:
        opts = OddEvenOptions(pitch=args.pitch, unseen=args.unseen, unseen_pitch=args.unseen_pitch)
        result = odd_even_check(
            load_model(args.model), args.data, args.eval_data or args.data, opts
        )
        if args.json:
            write_json(args.json, result)
    except LatentMusicError as err:
        print(f"Error: {err}", file=sys.stderr)
        return 1
    c, u = result["combed"], result["unseen"]
    print(f"combed notes at MIDI {args.pitch} ({len(c['notes'])}), odd minus even (dB):")
    for key in (
        "plain_original",
        "plain_reconstruction",
        "combed_original",
        "combed_reconstruction",
    ):
        print(f"  {key:24s} {c[key]:6.1f}")
    print(f"unseen {u['note']}: harmonics 2-8 over the fundamental (dB)")
    print(f"  original        {u['original_over_fundamental_db']}")
    print(f"  reconstruction  {u['reconstruction_over_fundamental_db']}")
    print(
        f"  P(instrument): original {u['p_instrument_original']:.3f}, "
        f"reconstruction {u['p_instrument_reconstruction']:.3f}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
