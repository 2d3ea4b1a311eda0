mod common;
mod config;
mod filesystem;
mod network;
mod process;
mod protected;
mod proxy;
mod syscalls;
