from lime_lens.train.cli import console_main

console_main()
