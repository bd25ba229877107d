from modelgate_client.cli import main

raise SystemExit(main())
