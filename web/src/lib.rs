//! The browser dashboard's static files, embedded in the binary so serving it
//! needs no build step.
