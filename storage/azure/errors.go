package azure

import (
	"errors"
	"fmt"
	"net/http"
	"reflect"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/bloberror"

	"github.com/backupbot/backupbot/storage/backend"
)

// Error codes the Blob service sends, grouped by what the operator has to fix.
var (
	credentialCodes = []bloberror.Code{
		bloberror.AuthenticationFailed, bloberror.AuthorizationFailure, bloberror.AuthorizationPermissionMismatch,
		bloberror.AuthorizationProtocolMismatch, bloberror.AuthorizationResourceTypeMismatch,
		bloberror.AuthorizationServiceMismatch, bloberror.AuthorizationSourceIPMismatch,
		bloberror.InsufficientAccountPermissions, bloberror.InvalidAuthenticationInfo,
		bloberror.NoAuthenticationInformation, bloberror.AccountIsDisabled,
	}
	missingContainerCodes = []bloberror.Code{bloberror.ContainerNotFound, bloberror.ContainerBeingDeleted, bloberror.ContainerDisabled}
	notFoundCodes         = []bloberror.Code{bloberror.BlobNotFound, bloberror.ResourceNotFound}
	badRequestCodes       = []bloberror.Code{
		bloberror.InvalidResourceName, bloberror.OutOfRangeInput, bloberror.InvalidHeaderValue,
		bloberror.UnsupportedHeader, bloberror.InvalidBlobTier, bloberror.RequestBodyTooLarge,
		bloberror.FeatureVersionMismatch, bloberror.InvalidQueryParameterValue,
	}
)

const azidentityPkg = "github.com/Azure/azure-sdk-for-go/sdk/azidentity"

// wrap turns an SDK error into one that names the operation, the key and
// the container, wraps backend.ErrNotFound or backend.ErrPermanent (with
// backend.ErrCredentials or backend.ErrNoContainer) where that applies,
// and says what to check. Transient errors (timeouts, resets, 5xx, 429)
// are wrapped as they are, so the retry wrapper retries them.
func (b *Backend) wrap(op, key string, err error) error {
	where := b.bucket.Op(op, key)
	const checkCreds = "check AZURE_STORAGE_CONNECTION_STRING (account name and key) or the signed-in identity's role on the container"
	if credentialError(err) {
		return fmt.Errorf("%s: no usable Azure credential: %s: %w: %w: %w", where, checkCreds, err, backend.ErrCredentials, backend.ErrPermanent)
	}
	switch {
	case bloberror.HasCode(err, missingContainerCodes...):
		return fmt.Errorf("%s: container %q does not exist: check the container name and account in the configuration, or create the container: %w: %w: %w",
			where, b.opts.Container, concise(err), backend.ErrNoContainer, backend.ErrPermanent)
	case bloberror.HasCode(err, notFoundCodes...):
		return fmt.Errorf("%s: %w", where, backend.ErrNotFound)
	case bloberror.HasCode(err, credentialCodes...):
		return fmt.Errorf("%s: access to container %q denied: %s: %w: %w: %w", where, b.opts.Container, checkCreds, concise(err), backend.ErrCredentials, backend.ErrPermanent)
	case bloberror.HasCode(err, badRequestCodes...):
		return fmt.Errorf("%s: the service refused the request: check the container name and access_tier: %w: %w", where, concise(err), backend.ErrPermanent)
	}
	switch status(err) {
	case http.StatusNotFound:
		return fmt.Errorf("%s: %w", where, backend.ErrNotFound)
	case http.StatusForbidden, http.StatusUnauthorized:
		return fmt.Errorf("%s: access to container %q denied: %s: %w: %w: %w", where, b.opts.Container, checkCreds, concise(err), backend.ErrCredentials, backend.ErrPermanent)
	}
	return fmt.Errorf("%s: %w", where, concise(err))
}

// concise replaces an azcore.ResponseError, whose text is a multi-line
// dump of the response, by one line (status and error code) that still
// unwraps to it; other errors pass unchanged.
func concise(err error) error {
	var re *azcore.ResponseError
	if !errors.As(err, &re) {
		return err
	}
	msg := fmt.Sprintf("the service answered %d %s", re.StatusCode, http.StatusText(re.StatusCode))
	if re.ErrorCode != "" {
		msg += " (" + re.ErrorCode + ")"
	}
	return &conciseError{msg: msg, err: err}
}

// conciseError shows a one-line message for an error whose own text is
// long, and still unwraps to it.
type conciseError struct {
	msg string
	err error
}

func (e *conciseError) Error() string { return e.msg }
func (e *conciseError) Unwrap() error { return e.err }

// credentialError reports a failure to get a token at all (no identity
// configured, or the identity provider refused it).
func credentialError(err error) bool {
	var nr interface{ NonRetriable() }
	if !errors.As(err, &nr) {
		return false
	}
	t := reflect.TypeOf(nr)
	if t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	return t.PkgPath() == azidentityPkg
}

func status(err error) int {
	var re *azcore.ResponseError
	if errors.As(err, &re) {
		return re.StatusCode
	}
	return 0
}
