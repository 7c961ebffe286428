//! Integration tests of rx-models (one test binary).
mod linmod_nist;
mod golden;
mod linmod_golden;
mod summary;
mod cube;
mod glm_golden;
mod glm_props;
mod linmod_cube;
mod dist;
