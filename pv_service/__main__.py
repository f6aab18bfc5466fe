from pv_service.cli import main

main()
