"""`python -m gate.settings chart [DIR]`: `make settings` (gate/settings/chart.py)."""

import sys

from gate.settings.chart import write_chart_files

if __name__ == "__main__":  # pragma: no cover
    arguments = [a for a in sys.argv[1:] if a != "chart"]
    write_chart_files(arguments[0] if arguments else "chart")
