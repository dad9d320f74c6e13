"""selchat-bench: a load generator for line servers, with reference servers to compare against."""
