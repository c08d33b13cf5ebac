from txc.main import main

main()
