from surecast.cli import main

main()
