from lime_lens.train.cli import main

main()
