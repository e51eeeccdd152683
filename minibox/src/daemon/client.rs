//@ begin daemon
//! `minibox --host unix:///PATH ...`: minibox as a client of a daemon's API.
//@ end
