"""selchat-demo: the several-terminals demo in one tmux session."""
