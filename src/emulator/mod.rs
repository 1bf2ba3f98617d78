//! Built-in BSN.cloud emulator (see issue 3). Owned by the emulator work.
