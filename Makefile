# Build: `make` (CPU trainer and data tool; CUDA targets too when nvcc exists), `make test`, `make train`.
CC ?= gcc
CFLAGS_BASE = -Wall -Wextra -Wno-unused-function -Wno-unknown-pragmas
OPT = -O3 -ffast-math -fno-finite-math-only
LDLIBS = -lm

# -march=native where the compiler accepts it
ifeq ($(shell echo 'int main(void){return 0;}' | $(CC) -march=native -x c - -o /dev/null 2>/dev/null && echo yes),yes)
  OPT += -march=native
  $(info build: -march=native enabled)
else
  $(info build: -march=native not accepted by $(CC); building for the generic target)
endif

# OpenMP where the compiler has it (NO_OMP=1 turns it off)
ifeq ($(NO_OMP),1)
  $(info build: OpenMP off (NO_OMP=1))
else ifeq ($(shell echo 'int main(void){return 0;}' | $(CC) -fopenmp -x c - -o /dev/null 2>/dev/null && echo yes),yes)
  OPT += -fopenmp
  $(info build: OpenMP on)
else
  $(info build: OpenMP not found; building single-threaded)
endif

# PCRE2 (GPT-2's pre-tokenisation regex in llmc/bpe.h)
ifeq ($(shell printf '\043include <pcre2.h>\n' | $(CC) -DPCRE2_CODE_UNIT_WIDTH=8 -E -x c - -o /dev/null 2>/dev/null && echo yes),yes)
  LDLIBS += -lpcre2-8
else ifneq ($(MAKECMDGOALS),clean)
  $(error PCRE2 not found: install it (Debian/Ubuntu: apt-get install libpcre2-dev))
endif

CFLAGS = $(CFLAGS_BASE) $(OPT)
HEADERS = $(wildcard llmc/*.h)

# CUDA: train_gptcu when nvcc exists; GPU_ARCH picks the targets (default: A100 sm_80 and H100/H200 sm_90)
NVCC ?= $(shell command -v nvcc 2>/dev/null || ls /usr/local/cuda/bin/nvcc 2>/dev/null)
GPU_ARCH ?= -gencode arch=compute_80,code=sm_80 -gencode arch=compute_90,code=sm_90
NVCC_FLAGS = -O3 -std=c++17 $(GPU_ARCH) -Xcompiler -Wall,-Wno-unused-function
CUDA_HEADERS = $(wildcard llmc/cuda/*.cuh)
CUDA_TARGETS =
ifneq ($(NVCC),)
  $(info build: nvcc found at $(NVCC); CUDA targets for $(GPU_ARCH))
  CUDA_TARGETS = train_gptcu dev/bench_gpu
else
  $(info build: nvcc not found; CUDA targets skipped)
endif

.PHONY: all test train clean bench bench-gpu bench-tokenizer
all: train_gpt prepare_data $(CUDA_TARGETS)

# `make train`: tiny Shakespeare, byte tokens, a small GPT on the CPU in a few minutes.
# DATA=path trains on another copy of the text; OUT=dir writes elsewhere; RESUME=1 continues the run
# in OUT; TRAIN_FLAGS adds or overrides flags (./train_gpt --help).
DATA ?= data/tinyshakespeare/input.txt
OUT ?= out/tinyshakespeare
RESUME ?= 0
TRAIN_FLAGS ?=
SHARDS = data/tinyshakespeare/tinyshakespeare_bytes
TRAIN_CONFIG = --layers 4 --heads 4 --channels 128 -t 128 -b 6 -x 2000 -l 1e-3 -u 100 -q 0.1 --beta2 0.99 \
	-v 250 -m 145 -s 500 -g 120 --prompt "ROMEO:" --temperature 0.8 -n 500

train: train_gpt prepare_data
	@if [ ! -f "$(DATA)" ]; then \
		if [ "$(DATA)" = "data/tinyshakespeare/input.txt" ]; then bash data/get_tinyshakespeare.sh "$(DATA)"; \
		else echo "error: DATA=$(DATA) does not exist"; exit 1; fi; fi
	./prepare_data -o $(SHARDS) "$(DATA)"
	./train_gpt -i "$(SHARDS)_train*.bin" -j "$(SHARDS)_val*.bin" -o $(OUT) -y $(RESUME) $(TRAIN_CONFIG) $(TRAIN_FLAGS)

train_gpt: train_gpt.c $(HEADERS)
	$(if $(filter 1,$(USE_MPI)),$(MPICC) -DUSE_MPI,$(CC)) $(CFLAGS) $< -o $@ $(LDLIBS)

# USE_MPI=1: train_gpt and train_gptcu run under mpirun (Debian's OpenMPI: openmpi-bin, libopenmpi-dev);
# without it, several train_gptcu processes meet through --dist-init. train_gpt_mpi is the MPI build of
# train_gpt under its own name, which the tests use beside the plain one.
MPICC ?= mpicc
ifeq ($(USE_MPI),1)
  MPI_CFLAGS = -DUSE_MPI $(shell $(MPICC) --showme:compile 2>/dev/null)
  MPI_LIBS = $(shell $(MPICC) --showme:link 2>/dev/null)
endif

train_gpt_mpi: train_gpt.c $(HEADERS)
	$(MPICC) $(CFLAGS) -DUSE_MPI $< -o $@ $(LDLIBS)

train_gptcu: train_gpt.cu $(HEADERS) $(CUDA_HEADERS)
	$(NVCC) $(NVCC_FLAGS) $(MPI_CFLAGS) $< -o $@ -lcublasLt -lnccl $(LDLIBS) $(MPI_LIBS)

dev/bench_gpu: dev/bench_gpu.cu dev/bench_common.h train_gpt.cu $(HEADERS) $(CUDA_HEADERS)
	$(NVCC) $(NVCC_FLAGS) $< -o $@ -lcublasLt -lnccl $(LDLIBS)

prepare_data: data/prepare_data.c $(HEADERS)
	$(CC) $(CFLAGS) $< -o $@ $(LDLIBS)

clean:
	rm -f train_gpt train_gpt_mpi train_gptcu prepare_data dev/test_gpt dev/test_gradcheck dev/test_rendezvous dev/compare_dumps
	rm -f dev/test_tokenizer dev/bench_tokenizer dev/bench_cpu dev/bench_gpu

dev/test_gradcheck: dev/test_gradcheck.c dev/test_common.h train_gpt.c $(HEADERS)
	$(CC) $(CFLAGS) $< -o $@ $(LDLIBS)

dev/test_gpt: dev/test_gpt.c dev/test_common.h train_gpt.c $(HEADERS)
	$(CC) $(CFLAGS) $< -o $@ $(LDLIBS)

dev/test_tokenizer: dev/test_tokenizer.c $(HEADERS)
	$(CC) $(CFLAGS) $< -o $@ $(LDLIBS)

dev/bench_tokenizer: dev/bench_tokenizer.c $(HEADERS)
	$(CC) $(CFLAGS) $< -o $@ $(LDLIBS)

dev/bench_cpu: dev/bench_cpu.c dev/bench_common.h train_gpt.c $(HEADERS)
	$(CC) $(CFLAGS) $< -o $@ $(LDLIBS)

# CPU training speed (dev/bench_cpu.c): the 4-layer C=256 model with GPT-2's vocabulary for every attention
# variant with AdamW and Muon, then GPT-2 124M with MHA and AdamW (about a minute on 2 cores);
# BENCH_CPU_FLAGS runs that instead (./dev/bench_cpu --help)
BENCH_CPU_FLAGS ?=
bench: dev/bench_cpu
ifeq ($(BENCH_CPU_FLAGS),)
	./dev/bench_cpu --preset small --table 1
	./dev/bench_cpu --preset gpt2
else
	./dev/bench_cpu $(BENCH_CPU_FLAGS)
endif

# GPU training speed (dev/bench_gpu.cu, needs a GPU): GPT-2 124M's shape at T=1024, B=16, for every attention
# variant with AdamW and Muon, with decode tokens/s at 1K and 8K context; BENCH_GPU_FLAGS runs that instead
BENCH_GPU_FLAGS ?= --preset gpt2-1k --table 1
bench-gpu: dev/bench_gpu
	./dev/bench_gpu $(BENCH_GPU_FLAGS)

# GPT-2 BPE encode/decode speed on tiny Shakespeare, one core (BENCH_FLAGS: see dev/bench_tokenizer.c)
bench-tokenizer: dev/bench_tokenizer
	./dev/bench_tokenizer $(BENCH_FLAGS)

dev/test_rendezvous: dev/test_rendezvous.c $(HEADERS)
	$(CC) $(CFLAGS) $< -o $@ $(LDLIBS)

dev/compare_dumps: dev/compare_dumps.c $(HEADERS)
	$(CC) $(CFLAGS) $< -o $@ $(LDLIBS)

# the MPI build only where mpicc exists; dev/test_mpi.sh says it skipped otherwise
MPI_TEST_TARGETS = $(if $(shell command -v $(MPICC) 2>/dev/null),train_gpt_mpi)

# the CPU test suite: double-precision gradient checks, unit tests, end-to-end CLI tests, the tokenizer,
# data parallelism under MPI and the rendezvous of processes launched without it
test: train_gpt prepare_data dev/test_gradcheck dev/test_gpt dev/test_tokenizer dev/test_rendezvous dev/compare_dumps dev/bench_cpu $(MPI_TEST_TARGETS)
	./dev/test_gradcheck
	./dev/test_gpt
	bash dev/test_cli.sh
	./dev/test_tokenizer
	bash dev/test_tokenizer.sh
	bash dev/test_mpi.sh
	./dev/test_rendezvous
