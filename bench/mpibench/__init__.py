"""Helpers of the MPI benchmarks (bench_mpi_febrl.py, bench_mpi_synth.py)."""
