"""The packed assembly of native/ (``make native``), which ``constructs_ivsrt._native`` loads."""
