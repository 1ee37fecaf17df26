//! The fault-injection harness (issue 6): real masters in network namespaces, real faults, a recorded history and checkers. Empty until then.
