import sys

from contlaws.commands import main

sys.exit(main())
