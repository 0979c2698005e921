package packages

// PrivateKey lets the external tests check how the case key is kept.
var PrivateKey = (*Store).privateKey
