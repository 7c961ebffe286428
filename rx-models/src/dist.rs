//! Distribution functions for p values and intervals.
