"""``python -m rhip.synth`` runs the generator without the main CLI."""

import sys

from rhip.synth.cli import main

sys.exit(main())
