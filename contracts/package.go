package contracts

// A lookup's records travel inline in the result while they are small. Above the task's inline
// limit the adapter streams them instead, sealed to the case's public key, into its register's
// package bucket (a JetStream object store), and the result carries only a PackageRef. Neither the
// NATS servers nor another register nor the workflow history ever hold the records in clear.

// DefaultInlineLimit is the inline limit the platform sets on its tasks: the records' JSON, in bytes.
// It keeps a result well under NATS's default maximum message size of 1 MiB.
const DefaultInlineLimit = 256 << 10

// PackageFormat is the only format of a package's plaintext in protocol v1: JSON Lines, one Record
// per line, in the order the register wrote them.
const PackageFormat = "application/x-ndjson"

// PackageBucket is the JetStream object store bucket into which register registerID's adapters
// write packages. The platform provisions it; a register's credentials reach only its own.
func PackageBucket(registerID string) string { return "register-" + registerID + "-packages" }

// PackageObject is the name of a task's package in its register's bucket: the task id, so that a
// redelivered task overwrites its own package and nothing else.
func PackageObject(taskID string) string { return taskID }

// PackageTarget, in a lookup task, tells the adapter how to deliver records too large to travel
// inline.
type PackageTarget struct {
	// Key is the case's X25519 public key, standard base64 (44 characters). Each request has its own
	// key pair; the platform keeps the private key, so only it can open the request's packages.
	Key string `json:"key" validate:"required,base64,len=44"`
	// InlineLimit is the most bytes of records (as JSON) that may travel inline in the result.
	// Above it the records must come as a package.
	InlineLimit int `json:"inline_limit" validate:"min=1,max=1048576"`
}

// PackageRef is a result's reference to records delivered as a package.
type PackageRef struct {
	Bucket string `json:"bucket" validate:"required,max=200"`
	Object string `json:"object" validate:"required,max=300"`
	Format string `json:"format" validate:"required,eq=application/x-ndjson"`
	// Records, Size and SHA256 describe the plaintext: how many records, how many bytes, and the
	// SHA-256 (lower-case hex) of those bytes. The reader checks all three.
	Records int64   `json:"records" validate:"min=1"`
	Size    int64   `json:"size" validate:"min=1"`
	SHA256  string  `json:"sha256" validate:"required,len=64,hexadecimal,lowercase"`
	Sealing Sealing `json:"sealing"`
}

// SealingScheme names the one sealing of protocol v1: X25519 key agreement between a fresh
// ephemeral key and the case key, HKDF-SHA256, then AES-256-GCM over fixed-size chunks in the STREAM
// construction, so that a reordered, dropped or truncated chunk is detected. kirjaamo.dev/contracts/sealed
// implements it, and its package comment specifies it for adapters in other languages.
const SealingScheme = "x25519-hkdf-sha256-aes256gcm-stream/v1"

// Sealing is how a package was sealed.
type Sealing struct {
	Scheme string `json:"scheme" validate:"required,eq=x25519-hkdf-sha256-aes256gcm-stream/v1"`
	// EphemeralKey is the adapter's one-time X25519 public key, standard base64.
	EphemeralKey string `json:"ephemeral_key" validate:"required,base64,len=44"`
	// ChunkSize is the plaintext bytes per sealed chunk; every chunk but the last is this long.
	ChunkSize int `json:"chunk_size" validate:"min=1024,max=1048576"`
}
