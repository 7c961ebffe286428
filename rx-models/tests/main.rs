//! Integration tests of rx-models (one test binary).
mod cube;
mod dist;
mod glm_golden;
mod glm_props;
mod golden;
mod linmod_cube;
mod linmod_golden;
mod linmod_nist;
mod summary;
mod trees;
