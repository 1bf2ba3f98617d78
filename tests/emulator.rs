// Emulator tests over real sockets.
