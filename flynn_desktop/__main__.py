from flynn_desktop.cli import main

raise SystemExit(main())
