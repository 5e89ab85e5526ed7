# Build: `make` (the CPU trainer, the data tool and the unpacked data; CUDA targets too when nvcc exists),
# `make train`, `make test`. Optional parts (PCRE2, MPI, nvcc) are detected; the build says what it left out.
CC ?= gcc
CFLAGS_BASE = -Wall -Wextra -Wno-unused-function -Wno-unknown-pragmas
OPT = -O3 -ffast-math -fno-finite-math-only
LDLIBS = -lm

# SANITIZE=1: AddressSanitizer + UndefinedBehaviorSanitizer builds (make test SANITIZE=1); the CPU-specific
# tuning stays, so the tests exercise the same code paths
ifeq ($(SANITIZE),1)
  OPT = -O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-sanitize=alignment
  $(info build: AddressSanitizer + UndefinedBehaviorSanitizer (SANITIZE=1))
endif

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

# PCRE2: GPT-2's pre-tokenisation regex (llmc/bpe.h). Without it the gpt2 tokenizer still loads and decodes
# (sampling from a gpt2 model works) but cannot encode text.
HAVE_PCRE2 := $(shell printf '\043include <pcre2.h>\n' | $(CC) -DPCRE2_CODE_UNIT_WIDTH=8 -E -x c - -o /dev/null 2>/dev/null && echo 1)
ifeq ($(HAVE_PCRE2),1)
  OPT += -DHAVE_PCRE2
  LDLIBS += -lpcre2-8
  $(info build: PCRE2 found: the gpt2 tokenizer encodes)
else
  $(info build: PCRE2 not found: the gpt2 tokenizer cannot encode text; install: apt-get install libpcre2-dev)
endif

CFLAGS = $(CFLAGS_BASE) $(OPT)
HEADERS = $(wildcard llmc/*.h llmc/cpu/*.h)

# USE_MPI=1: train_gpt (and train_gptcu) run under mpirun (Debian: openmpi-bin libopenmpi-dev); without
# it, several train_gptcu processes meet through --dist-init. train_gpt_mpi is the MPI build of train_gpt
# under its own name, which the tests use beside the plain one.
MPICC ?= mpicc
HAVE_MPI := $(if $(shell command -v $(MPICC) 2>/dev/null),1)
ifeq ($(USE_MPI),1)
  ifneq ($(HAVE_MPI),1)
    $(error USE_MPI=1 but $(MPICC) was not found; install: apt-get install openmpi-bin libopenmpi-dev)
  endif
  MPI_CFLAGS = -DUSE_MPI $(shell $(MPICC) --showme:compile 2>/dev/null)
  MPI_LIBS = $(shell $(MPICC) --showme:link 2>/dev/null)
  $(info build: MPI on (USE_MPI=1): train_gpt runs under mpirun)
endif
TRAIN_CC = $(if $(filter 1,$(USE_MPI)),$(MPICC) -DUSE_MPI,$(CC))

# CUDA: train_gptcu when nvcc exists; GPU_ARCH picks the targets (default: A100 sm_80 and H100/H200 sm_90)
NVCC ?= $(shell command -v nvcc 2>/dev/null || ls /usr/local/cuda/bin/nvcc 2>/dev/null)
GPU_ARCH ?= -gencode arch=compute_80,code=sm_80 -gencode arch=compute_90,code=sm_90
NVCC_FLAGS = -O3 -std=c++17 $(GPU_ARCH) -Xcompiler -Wall,-Wno-unused-function $(filter -DHAVE_PCRE2,$(OPT))
CUDA_HEADERS = $(wildcard llmc/cuda/*.cuh)
CUDA_TARGETS =
ifneq ($(NVCC),)
  $(info build: nvcc found at $(NVCC); CUDA targets for $(GPU_ARCH))
  CUDA_TARGETS = train_gptcu dev/bench_gpu
else
  $(info build: nvcc not found: the CUDA trainer is left out; install: the CUDA toolkit (nvcc))
endif

# A change of build configuration (flags, compiler, MPI, GPU architectures) rebuilds what it affects: each
# target depends on a stamp file that is rewritten only when its configuration string changes.
BUILD_DIR = .build
C_CONFIG := $(CC) $(CFLAGS) $(LDLIBS) | $(TRAIN_CC) $(MPI_CFLAGS)
CUDA_CONFIG := $(NVCC) $(NVCC_FLAGS) $(MPI_CFLAGS) $(MPI_LIBS) $(LDLIBS)
$(shell mkdir -p $(BUILD_DIR); \
	[ "$$(cat $(BUILD_DIR)/c.config 2>/dev/null)" = '$(C_CONFIG)' ] || echo '$(C_CONFIG)' > $(BUILD_DIR)/c.config; \
	[ "$$(cat $(BUILD_DIR)/cuda.config 2>/dev/null)" = '$(CUDA_CONFIG)' ] || echo '$(CUDA_CONFIG)' > $(BUILD_DIR)/cuda.config)
C_STAMP = $(BUILD_DIR)/c.config
CUDA_STAMP = $(BUILD_DIR)/cuda.config

.PHONY: all data test train clean bench bench-gpu bench-tokenizer fuzz
all: train_gpt prepare_data data $(CUDA_TARGETS)

# ----------------------------------------------------------------------------
# data the repository ships (data/packed/, gzip; data/packed/SHA256SUMS holds each file's sha256): tiny
# Shakespeare and GPT-2's vocabulary, unpacked and checked here

PACKED_DATA = data/tinyshakespeare/input.txt data/gpt2/r50k_base.tiktoken data/gpt2/encoder.json data/gpt2/vocab.bpe
data: $(PACKED_DATA)

data/tinyshakespeare/input.txt: data/packed/tinyshakespeare.txt.gz data/packed/SHA256SUMS
	@bash data/unpack.sh tinyshakespeare.txt $@

data/gpt2/%: data/packed/%.gz data/packed/SHA256SUMS
	@bash data/unpack.sh $* $@

# ----------------------------------------------------------------------------
# `make train`: tiny Shakespeare, byte tokens, a small GPT on the CPU in a few minutes.
# DATA=path trains on another text; OUT=dir writes elsewhere; RESUME=1 continues the run in OUT;
# TRAIN_FLAGS adds or overrides flags (./train_gpt --help).
DEFAULT_DATA = data/tinyshakespeare/input.txt
DATA ?= $(DEFAULT_DATA)
OUT ?= out/tinyshakespeare
RESUME ?= 0
TRAIN_FLAGS ?=
SHARDS = data/tinyshakespeare/tinyshakespeare_bytes
TRAIN_CONFIG = --layers 4 --heads 4 --channels 128 -t 128 -b 6 -x 2000 --optimizer muon -l 1e-3 -u 100 -q 0.1 --beta2 0.99 \
	-v 250 -m 145 -s 500 -g 120 --prompt "ROMEO:" --temperature 0.8 -n 500

train: train_gpt prepare_data $(filter $(DEFAULT_DATA),$(DATA))
	@[ -f "$(DATA)" ] || { echo "error: DATA=$(DATA) does not exist"; exit 1; }
	./prepare_data -o $(SHARDS) "$(DATA)"
	./train_gpt -i "$(SHARDS)_train*.bin" -j "$(SHARDS)_val*.bin" -o $(OUT) -y $(RESUME) $(TRAIN_CONFIG) $(TRAIN_FLAGS)

# ----------------------------------------------------------------------------
# programs

train_gpt: train_gpt.c $(HEADERS) $(C_STAMP)
	$(TRAIN_CC) $(CFLAGS) $< -o $@ $(LDLIBS)

train_gpt_mpi: train_gpt.c $(HEADERS) $(C_STAMP)
	$(MPICC) $(CFLAGS) -DUSE_MPI $< -o $@ $(LDLIBS)

prepare_data: data/prepare_data.c $(HEADERS) $(C_STAMP)
	$(CC) $(CFLAGS) $< -o $@ $(LDLIBS)

train_gptcu: train_gpt.cu $(HEADERS) $(CUDA_HEADERS) $(CUDA_STAMP)
	$(NVCC) $(NVCC_FLAGS) $(MPI_CFLAGS) $< -o $@ -lcublasLt -lnccl $(LDLIBS) $(MPI_LIBS)

dev/bench_gpu: dev/bench_gpu.cu dev/bench_common.h train_gpt.cu $(HEADERS) $(CUDA_HEADERS) $(CUDA_STAMP)
	$(NVCC) $(NVCC_FLAGS) $< -o $@ -lcublasLt -lnccl $(LDLIBS)

# test and benchmark programs: one C file each, built like the trainer
C_DEV_PROGRAMS = dev/test_gradcheck dev/test_gpt dev/test_tokenizer dev/test_rendezvous dev/compare_dumps dev/test_compare \
	dev/check_args dev/bench_cpu dev/bench_tokenizer
$(C_DEV_PROGRAMS): %: %.c $(wildcard dev/*.h) train_gpt.c $(HEADERS) $(C_STAMP)
	$(CC) $(CFLAGS) $< -o $@ $(LDLIBS)

clean:
	rm -f train_gpt train_gpt_mpi train_gptcu prepare_data $(C_DEV_PROGRAMS) dev/bench_gpu
	rm -rf $(BUILD_DIR)

# ----------------------------------------------------------------------------
# tests: `make test` runs the CPU suite through dev/run_tests.sh, which prints one line per check (ok, FAIL,
# or SKIP with what to install) and a summary; TEST_STRICT=1 (CI) fails when anything was skipped

MPI_TEST_TARGETS = $(if $(HAVE_MPI),train_gpt_mpi)
test: train_gpt prepare_data data dev/test_gradcheck dev/test_gpt dev/test_tokenizer dev/test_rendezvous dev/compare_dumps \
		dev/test_compare dev/check_args dev/bench_cpu $(MPI_TEST_TARGETS)
	@HAVE_PCRE2=$(HAVE_PCRE2) HAVE_MPI=$(HAVE_MPI) bash dev/run_tests.sh

# fuzzing (dev/fuzz/README.md; needs clang with libFuzzer): each target for FUZZ_SECONDS after its seeds and
# the inputs of past findings; non-zero on a finding
FUZZ_SECONDS ?= 60
fuzz: data
	$(MAKE) -C dev/fuzz run FUZZ_SECONDS=$(FUZZ_SECONDS)

# ----------------------------------------------------------------------------
# benchmarks (figures, not tests)

# CPU training speed (dev/bench_cpu.c): the 4-layer C=256 model with GPT-2's vocabulary for every attention
# variant with AdamW and Muon (3 interleaved rounds), then GPT-2 124M with MHA and AdamW and the GEMM table against
# OpenBLAS on its shapes (where libopenblas.so.0 is installed): about 5 minutes on 2 cores;
# BENCH_CPU_FLAGS runs that instead (./dev/bench_cpu --help)
BENCH_CPU_FLAGS ?=
bench: dev/bench_cpu
ifeq ($(BENCH_CPU_FLAGS),)
	./dev/bench_cpu --preset small --table 1
	./dev/bench_cpu --preset gpt2 --gemm 1
else
	./dev/bench_cpu $(BENCH_CPU_FLAGS)
endif

# GPU training speed (dev/bench_gpu.cu, needs a GPU): GPT-2 124M's shape at T=1024, B=16, for every attention
# variant with AdamW and Muon, with decode tokens/s at 1K and 8K context; BENCH_GPU_FLAGS runs that instead
BENCH_GPU_FLAGS ?= --preset gpt2-1k --table 1
bench-gpu: dev/bench_gpu
	./dev/bench_gpu $(BENCH_GPU_FLAGS)

# GPT-2 BPE encode/decode speed on tiny Shakespeare, one core (BENCH_FLAGS: see dev/bench_tokenizer.c)
bench-tokenizer: dev/bench_tokenizer data
	./dev/bench_tokenizer $(BENCH_FLAGS)
