"""Two CPU facts that set what a coreset costs against a random step.

1. **The training step's memory layout.** The benchmark CNN's training step
   (forward, backward and SGD step over one batch) with its convolution
   weights in the default NCHW layout against channels-last (NHWC), which
   ``SmallCNN`` now uses. The selection pass has run channels-last since
   section 00 of ``RESULTS.md``; a random step that runs NCHW is slower than
   it needs to be, which flatters every selection mode at equal wall-clock.
2. **The selection pass's chunk.** An eval forward over two batches of rows
   (``random_subset_size="auto"``), in chunks of 32 to 256 rows: large
   chunks spill the CPU's cache.

Every variant runs in one process, interleaved repeat after repeat, so that
machine load hits them alike; the report gives medians and each variant's
ratio to a channels-last training step of the same run.

Run: ``python benchmarks/bench_cpu_layout.py`` (``--repeats``, ``--threads``).
"""

import argparse
import time

import numpy as np
import torch
import torch.nn.functional as F

from crest_benchmark.provenance import processor_name
from sklearn_crest._models import SmallCNN


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=100)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--threads", type=int, default=None,
                        help="torch threads (default: torch's own)")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    b = args.batch_size
    generator = torch.Generator().manual_seed(0)
    X = torch.randn(4 * b, 784, generator=generator)
    y = torch.randint(0, 10, (4 * b,), generator=generator)

    def model(layout):
        torch.manual_seed(0)
        module = SmallCNN(10).to(memory_format=layout)
        return module, torch.optim.SGD(module.parameters(), lr=0.01, momentum=0.9)

    nchw, nhwc = model(torch.contiguous_format), model(torch.channels_last)

    def training_step(pair):
        module, optimizer = pair
        optimizer.zero_grad()
        F.cross_entropy(module(X[:b]), y[:b]).backward()
        optimizer.step()

    def selection_pass(chunk):
        module = nhwc[0]
        module.eval()
        with torch.inference_mode():
            for start in range(0, 2 * b, chunk):
                module(X[start:start + chunk])
        module.train()

    variants = {
        "training step, NCHW weights": lambda: training_step(nchw),
        "training step, channels-last weights": lambda: training_step(nhwc),
    }
    for chunk in (32, 64, b, 2 * b):
        variants[f"selection pass over {2 * b} rows, chunks of {chunk}"] = (
            lambda chunk=chunk: selection_pass(chunk))
    for run in variants.values():  # untimed: first calls pay set-up
        run()
    seconds = {name: [] for name in variants}
    for _ in range(args.repeats):
        for name, run in variants.items():
            start = time.perf_counter()
            run()
            seconds[name].append(time.perf_counter() - start)
    reference = np.median(seconds["training step, channels-last weights"])
    print(f"{processor_name()}, torch {torch.__version__}, "
          f"{torch.get_num_threads()} threads, batch {b}, {args.repeats} repeats")
    print("| variant | median ms | / channels-last training step |")
    print("| --- | --- | --- |")
    for name, values in seconds.items():
        median = np.median(values)
        print(f"| {name} | {median * 1e3:.2f} | {median / reference:.2f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
