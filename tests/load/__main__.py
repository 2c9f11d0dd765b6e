import sys

from tests.load.driver import main

sys.exit(main())
