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

CFLAGS = $(CFLAGS_BASE) $(OPT)
HEADERS = $(wildcard llmc/*.h)

NVCC ?= $(shell command -v nvcc 2>/dev/null || ls /usr/local/cuda/bin/nvcc 2>/dev/null)
ifneq ($(NVCC),)
  $(info build: nvcc found at $(NVCC))
else
  $(info build: nvcc not found; CUDA targets skipped)
endif

.PHONY: all test train clean
all: train_gpt prepare_data

train_gpt: train_gpt.c $(HEADERS)
	$(CC) $(CFLAGS) $< -o $@ $(LDLIBS)

prepare_data: data/prepare_data.c $(HEADERS)
	$(CC) $(CFLAGS) $< -o $@ $(LDLIBS)

clean:
	rm -f train_gpt prepare_data dev/test_gpt dev/test_gradcheck

dev/test_gradcheck: dev/test_gradcheck.c train_gpt.c $(HEADERS)
	$(CC) $(CFLAGS) $< -o $@ $(LDLIBS)

dev/test_gpt: dev/test_gpt.c train_gpt.c $(HEADERS)
	$(CC) $(CFLAGS) $< -o $@ $(LDLIBS)
