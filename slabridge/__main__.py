from slabridge.cli import main

main()
