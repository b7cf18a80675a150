from moo_compress.cli import main

raise SystemExit(main())
