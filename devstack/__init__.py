"""The local cloud: emulators, both functions, the Eventarc bridge and the page, on free ports."""
