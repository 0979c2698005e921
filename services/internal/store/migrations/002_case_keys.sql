-- Each request's X25519 key pair for packages: registers seal large results to the public key, and
-- only the platform can open them. The private key is stored sealed under a key derived from the
-- payload keys (key_id names which), bound to its request id.
CREATE TABLE case_keys (
    request_id          uuid PRIMARY KEY REFERENCES cases ON DELETE CASCADE,
    public_key          bytea       NOT NULL,
    key_id              text        NOT NULL,
    sealed_private_key  bytea       NOT NULL,
    created_at          timestamptz NOT NULL DEFAULT now()
);
