//! Business rules, shared by HTTP handlers and (later) Socket.IO handlers: who may do what,
//! what a write changes, which cache tags it touches and whom to notify.
