package sqlstore

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"errors"
	"net/mail"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/blobmark/blobmark"
	"golang.org/x/crypto/bcrypt"
)

// Users holds the accounts and their API tokens: creating users, finding them, and checking passwords and tokens.
type Users struct {
	*core
}

// tokenPrefixLen is how much of a token is kept in clear, enough to tell
// tokens apart in `token show` and not enough to guess one.
const tokenPrefixLen = 6

// dummyHash is compared against when an email is unknown, so that a failed
// sign-in takes as long whether or not the account exists. It is made on
// first use so that commands that never sign anyone in do not pay for it.
var dummyHash = sync.OnceValue(func() []byte {
	h, _ := bcrypt.GenerateFromPassword([]byte("blobmark-no-such-user"), bcrypt.DefaultCost)
	return h
})

const userColumns = "id, email, username, first_name, last_name, date_joined, token_prefix, organization_id, role"

// qualifiedUserColumns are userColumns of a users table aliased u, for
// queries that join it.
var qualifiedUserColumns = "u." + strings.ReplaceAll(userColumns, ", ", ", u.")

// scanUser reads userColumns, then any extra columns into extra.
func scanUser(row interface{ Scan(...any) error }, extra ...any) (*blobmark.User, error) {
	var u blobmark.User
	var joined timeValue
	if err := row.Scan(append([]any{&u.ID, &u.Email, &u.Username, &u.FirstName, &u.LastName, &joined, &u.TokenPrefix, &u.OrganizationID, &u.Role}, extra...)...); err != nil {
		return nil, err
	}
	u.DateJoined = joined.Time
	return &u, nil
}

// newToken returns a fresh API token (40 hex characters, like Label Studio's)
// and the SHA-256 hash that is stored in its place. A fast hash is right here:
// the token is 160 random bits, so there is nothing to brute-force.
func newToken() (token, hash string) {
	var b [20]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails
	token = hex.EncodeToString(b[:])
	return token, hashToken(token)
}

func hashToken(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:])
}

// emailKey is the form emails are unique and looked up in on both stores.
func emailKey(email string) string { return blobmark.EmailKey(email) }

func validateEmail(email string) error {
	addr, err := mail.ParseAddress(email)
	if err != nil || addr.Address != email || addr.Name != "" {
		return blobmark.FieldErrorf("email", "Enter a valid email address.")
	}
	return nil
}

func hashPassword(password string) (string, error) {
	if password == "" {
		return "", blobmark.FieldErrorf("password", "This field may not be blank.")
	}
	h, err := bcrypt.GenerateFromPassword([]byte(password), bcrypt.DefaultCost)
	if errors.Is(err, bcrypt.ErrPasswordTooLong) {
		return "", blobmark.FieldErrorf("password", "Ensure this field has no more than 72 bytes.")
	} else if err != nil {
		return "", wrapInternal("hash password", err)
	}
	return string(h), nil
}

// CreateUser creates a user with a bcrypt-hashed password, in the default
// organization, and returns the user with its new API token, which is not
// stored and cannot be shown again.
func (db *Users) CreateUser(ctx context.Context, email, password string) (*blobmark.User, string, error) {
	return db.CreateUserInOrganization(ctx, email, password, "")
}

// CreateUserInOrganization creates a user as CreateUser does, as a member of
// the organization titled org ("" means the default one), which is created
// in the same transaction when missing.
func (db *Users) CreateUserInOrganization(ctx context.Context, email, password, org string) (*blobmark.User, string, error) {
	return db.AddUser(ctx, blobmark.NewUser{Email: email, Password: password, Organization: org})
}

// userNameMaxLen bounds usernames and first and last names (Django's limits).
const userNameMaxLen = 150

func validateNames(fields map[string]string) error {
	for field, v := range fields {
		if utf8.RuneCountInString(v) > userNameMaxLen {
			return blobmark.FieldErrorf(field, "Ensure this field has no more than %d characters.", userNameMaxLen)
		}
	}
	return nil
}

// AddUser creates the user nu describes, with a bcrypt-hashed password, and
// returns it with its new API token, which is not stored and cannot be shown
// again. Without a role the first member of an organization becomes its
// owner and any later one an annotator; the count and the insert share a
// transaction, so two first users at once do not both become owners.
func (db *Users) AddUser(ctx context.Context, nu blobmark.NewUser) (*blobmark.User, string, error) {
	nw, err := db.prepareUser(nu)
	if err != nil {
		return nil, "", err
	}
	err = db.inTx(ctx, "create user", func(tx *Tx) error { return tx.insertUser(ctx, nw) })
	if err != nil {
		return nil, "", err
	}
	return nw.user, nw.token, nil
}

// newUserRow is a validated user ready to insert, with its hashed secrets.
type newUserRow struct {
	user                     *blobmark.User
	org                      string // the organization's title when user.OrganizationID is 0
	pwHash, tokenHash, token string
}

// prepareUser validates nu and hashes its password and new token, before
// any transaction starts: bcrypt is slow on purpose.
func (db *core) prepareUser(nu blobmark.NewUser) (*newUserRow, error) {
	org, err := orgTitle(nu.Organization)
	if err != nil {
		return nil, err
	}
	email := strings.TrimSpace(nu.Email)
	if err := validateEmail(email); err != nil {
		return nil, err
	}
	if nu.Role != "" {
		if _, err := blobmark.ParseRole("role", string(nu.Role)); err != nil {
			return nil, err
		}
	}
	u := &blobmark.User{Email: email, Username: strings.TrimSpace(nu.Username), OrganizationID: nu.OrganizationID,
		FirstName: strings.TrimSpace(nu.FirstName), LastName: strings.TrimSpace(nu.LastName), Role: nu.Role}
	if err := validateNames(map[string]string{"username": u.Username, "first_name": u.FirstName, "last_name": u.LastName}); err != nil {
		return nil, err
	}
	pwHash, err := hashPassword(nu.Password)
	if err != nil {
		return nil, err
	}
	token, tokenHash := newToken()
	u.DateJoined, u.TokenPrefix = db.timestamp(), token[:tokenPrefixLen]
	return &newUserRow{user: u, org: org, pwHash: pwHash, tokenHash: tokenHash, token: token}, nil
}

// insertUser inserts a prepared user, placing it in its organization
// (created when missing) and giving it the first member's or a later
// member's role when it has none. An email already taken is ECONFLICT on
// "email".
func (tx *Tx) insertUser(ctx context.Context, nw *newUserRow) error {
	u := nw.user
	if u.OrganizationID == 0 {
		o, err := tx.ensureOrganization(ctx, nw.org, u.DateJoined)
		if err != nil {
			return err
		}
		u.OrganizationID = o.ID
	}
	if u.Role == "" {
		var members int
		if err := tx.queryRow(ctx, "SELECT COUNT(*) FROM users WHERE organization_id = ?", u.OrganizationID).Scan(&members); err != nil {
			return err
		}
		u.Role = blobmark.RoleAnnotator
		if members == 0 {
			u.Role = blobmark.RoleOwner
		}
	}
	err := tx.queryRow(ctx, `INSERT INTO users (email, email_key, username, first_name, last_name, password_hash, token_hash, token_prefix, date_joined, organization_id, role)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id`,
		u.Email, emailKey(u.Email), u.Username, u.FirstName, u.LastName, nw.pwHash, nw.tokenHash, u.TokenPrefix, u.DateJoined, u.OrganizationID, string(u.Role)).Scan(&u.ID)
	if err = translate("create user", err); blobmark.ErrorCode(err) == blobmark.ECONFLICT {
		return errEmailTaken(err)
	}
	return err
}

// errEmailTaken is the answer for an email that already has an account.
func errEmailTaken(cause error) error {
	const msg = "A user with that email already exists."
	return &blobmark.Error{Code: blobmark.ECONFLICT, Field: "email", Message: msg, Fields: map[string][]string{"email": {msg}}, Err: cause}
}

// FindUserByEmail returns the user with that email, compared without regard
// to case.
func (db *Users) FindUserByEmail(ctx context.Context, email string) (*blobmark.User, error) {
	u, err := scanUser(db.queryRow(ctx, "SELECT "+userColumns+" FROM users WHERE email_key = ?", emailKey(email)))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, notFound("user")
	}
	return u, translate("find user", err)
}

// FindUserByID returns the user with that id.
func (db *Users) FindUserByID(ctx context.Context, id int64) (*blobmark.User, error) {
	u, err := scanUser(db.queryRow(ctx, "SELECT "+userColumns+" FROM users WHERE id = ?", id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, notFound("user")
	}
	return u, translate("find user", err)
}

// errBadCredentials is the one answer to every failed sign-in, so it tells
// nothing about which part was wrong.
func errBadCredentials() error {
	return blobmark.Errorf(blobmark.EUNAUTHORIZED, "Invalid credentials.")
}

// AuthenticatePassword returns the user when email and password match.
func (db *Users) AuthenticatePassword(ctx context.Context, email, password string) (*blobmark.User, error) {
	var pwHash string
	var joined timeValue
	var u blobmark.User
	err := db.queryRow(ctx, "SELECT "+userColumns+", password_hash FROM users WHERE email_key = ?", emailKey(email)).
		Scan(&u.ID, &u.Email, &u.Username, &u.FirstName, &u.LastName, &joined, &u.TokenPrefix, &u.OrganizationID, &u.Role, &pwHash)
	if errors.Is(err, sql.ErrNoRows) {
		_ = bcrypt.CompareHashAndPassword(dummyHash(), []byte(password))
		return nil, errBadCredentials()
	} else if err != nil {
		return nil, translate("authenticate", err)
	}
	if bcrypt.CompareHashAndPassword([]byte(pwHash), []byte(password)) != nil {
		return nil, errBadCredentials()
	}
	u.DateJoined = joined.Time
	return &u, nil
}

// AuthenticateToken returns the owner of an API token. Its organization's
// legacy_api_tokens_enabled is read in the same query, so turning legacy
// keys off takes effect on the next request.
func (db *Users) AuthenticateToken(ctx context.Context, token string) (*blobmark.User, error) {
	if token == "" {
		return nil, errBadCredentials()
	}
	var enabled bool
	u, err := scanUser(db.queryRow(ctx, "SELECT "+qualifiedUserColumns+", o.legacy_api_tokens_enabled FROM users u JOIN organizations o ON o.id = u.organization_id WHERE u.token_hash = ?",
		hashToken(token)), &enabled)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return nil, errBadCredentials()
	case err != nil:
		return nil, translate("authenticate token", err)
	case !enabled:
		return nil, blobmark.ErrLegacyTokensDisabled
	}
	return u, nil
}

// RotateToken replaces a user's API token; the old one stops working at once.
func (db *Users) RotateToken(ctx context.Context, userID int64) (string, error) {
	token, tokenHash := newToken()
	err := db.inTx(ctx, "rotate token", func(tx *Tx) error {
		res, err := tx.exec(ctx, "UPDATE users SET token_hash = ?, token_prefix = ? WHERE id = ?", tokenHash, token[:tokenPrefixLen], userID)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil {
			return err
		} else if n == 0 {
			return notFound("user")
		}
		return nil
	})
	if err != nil {
		return "", err
	}
	return token, nil
}

// timeValue scans a timestamp from either driver: pgx returns time.Time;
// modernc returns time.Time for DATETIME columns but a string for computed
// expressions.
type timeValue struct{ time.Time }

func (t *timeValue) Scan(src any) error {
	switch v := src.(type) {
	case time.Time:
		t.Time = v.UTC()
		return nil
	case string:
		return t.parse(v)
	case []byte:
		return t.parse(string(v))
	case nil:
		t.Time = time.Time{}
		return nil
	}
	return errors.New("sqlstore: cannot scan timestamp")
}

func (t *timeValue) parse(s string) error {
	for _, layout := range []string{"2006-01-02 15:04:05.999999999-07:00", time.RFC3339Nano, "2006-01-02 15:04:05.999999999", "2006-01-02 15:04:05"} {
		if v, err := time.Parse(layout, s); err == nil {
			t.Time = v.UTC()
			return nil
		}
	}
	return errors.New("sqlstore: cannot parse timestamp " + s)
}
