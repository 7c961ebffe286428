//! revoscale
