"""`python3 -m tts_layer.check [APP_DIR]`: the image build's check that the pinned upstream still
has every structure the layer wraps, fixes or empties (upstream.structure_problems). Prints one
line per problem and exits 1, so a moved pin fails the build instead of running unfixed."""

from __future__ import annotations

import sys
from pathlib import Path

from .upstream import structure_problems


def main(argv: list[str]) -> int:
    app_dir = Path(argv[0]) if argv else Path("/app")
    problems = structure_problems(app_dir)
    for problem in problems:
        print(f"tts_layer.check: {problem}", file=sys.stderr)
    if problems:
        print("tts_layer.check: the layer does not fit this upstream; adapt docker/tts_layer before moving the pin", file=sys.stderr)
        return 1
    print(f"tts_layer.check: upstream at {app_dir} has what the layer wraps, fixes and empties")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
