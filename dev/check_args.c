/*
The command-line check of the trainers, alone: parses and validates flags exactly as train_gptcu (and
train_gpt) do before they touch data or a device (llmc/args.h), and exits 0, or 1 with the trainer's
message. dev/gpu_check.sh --dry-run puts every GPU command's flags through it.

    ./dev/check_args FLAGS...
*/
#include "../llmc/args.h"

int main(int argc, char** argv) {
    ArgParser parser;
    args_defaults(&parser, "bf16"); // train_gptcu's default, the trainer whose commands are checked
    args_parse(&parser, argc, argv);
    args_validate(&parser);
    return 0;
}
