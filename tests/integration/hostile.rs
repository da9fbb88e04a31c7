//! Hostile input and faults: nothing escapes, nothing runs, nothing is
//! lost, nothing panics.
