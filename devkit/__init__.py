"""The developers' kit that the tests, the benchmarks and the demo share: waiting for a
condition, running a program. Nothing here is imported by the product itself."""
