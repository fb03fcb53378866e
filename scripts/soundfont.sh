# Sourced by the training scripts that render data: FONT holds the --soundfont option for
# FluidR3 (Debian's fluid-soundfont-gm, MIT licence) where it is installed; else FONT is
# empty and the data commands render with TimGM6mb, which ships in pretty_midi.
SOUNDFONT=${SOUNDFONT:-/usr/share/sounds/sf2/FluidR3_GM.sf2}
FONT=()
if [ -f "$SOUNDFONT" ]; then
  FONT=(--soundfont "$SOUNDFONT")
else
  echo "note: $SOUNDFONT not found (apt-get install fluid-soundfont-gm); rendering with TimGM6mb" >&2
fi
