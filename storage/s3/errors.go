package s3

import (
	"errors"
	"fmt"
	"net/http"

	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"

	"github.com/backupbot/backupbot/storage/backend"
)

// Error codes S3 and S3-compatible servers send, grouped by what the
// operator has to fix.
var (
	credentialCodes = map[string]bool{
		"AccessDenied": true, "InvalidAccessKeyId": true, "SignatureDoesNotMatch": true,
		"Forbidden": true, "ExpiredToken": true, "InvalidToken": true, "TokenRefreshRequired": true,
		"AllAccessDisabled": true, "AccountProblem": true, "InvalidSecurity": true,
		// versitygw answers an unknown access key with 404 and this code.
		"XAdminUserNotFound": true,
	}
	// MinIO and other self-hosted servers say so when their drives fill up.
	noSpaceCodes = map[string]bool{
		"XMinioStorageFull": true, "XMinioAdminBucketQuotaExceeded": true, "QuotaExceeded": true,
		"InsufficientStorage": true,
	}
	regionCodes = map[string]bool{
		"PermanentRedirect": true, "AuthorizationHeaderMalformed": true, "IllegalLocationConstraintException": true,
	}
	badRequestCodes = map[string]bool{
		"InvalidBucketName": true, "InvalidArgument": true, "InvalidStorageClass": true,
		"KMS.NotFoundException": true, "KMS.DisabledException": true, "NotImplemented": true,
		"EntityTooLarge": true, "InvalidRequest": true, "MethodNotAllowed": true,
		"BucketAlreadyExists": true, "MalformedXML": true,
	}
)

// wrap turns an SDK error into one that names the operation, the key and
// the bucket, wraps backend.ErrNotFound or backend.ErrPermanent (with
// backend.ErrCredentials or backend.ErrNoContainer) where that applies,
// and says what to check. Transient errors (timeouts, resets, 5xx, 429)
// are wrapped as they are, so the retry wrapper retries them.
func (b *Backend) wrap(op, key string, err error) error {
	where := b.bucket.Op(op, key)
	var signing *v4.SigningError
	if errors.As(err, &signing) {
		return fmt.Errorf("%s: no usable AWS credentials (set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or AWS_PROFILE): %w: %w: %w",
			where, err, backend.ErrCredentials, backend.ErrPermanent)
	}
	var noBucket *types.NoSuchBucket
	var noKey *types.NoSuchKey
	var notFound *types.NotFound
	switch code := errorCode(err); {
	case errors.As(err, &noBucket) || code == "NoSuchBucket":
		return fmt.Errorf("%s: bucket %q does not exist: check the bucket name and region in the configuration, or create the bucket: %w: %w: %w",
			where, b.opts.Bucket, err, backend.ErrNoContainer, backend.ErrPermanent)
	case errors.As(err, &noKey) || errors.As(err, &notFound) || code == "NoSuchKey" || code == "NotFound" || code == "NoSuchUpload":
		return fmt.Errorf("%s: %w", where, backend.ErrNotFound)
	case credentialCodes[code]:
		return fmt.Errorf("%s: access to bucket %q denied (%s): check the access key and secret (AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY or the AWS profile) and the bucket policy: %w: %w: %w",
			where, b.opts.Bucket, code, err, backend.ErrCredentials, backend.ErrPermanent)
	case noSpaceCodes[code] || httpStatus(err) == http.StatusInsufficientStorage:
		return fmt.Errorf("%s: no space left on the storage: the server holding bucket %q is out of drive space or over its quota (%s): free space or raise the quota, then run the command again: %w: %w: %w",
			where, b.opts.Bucket, code, err, backend.ErrNoSpace, backend.ErrPermanent)
	case regionCodes[code]:
		return fmt.Errorf("%s: bucket %q answered from another region or rejected the region (%s): check the storage's region: %w: %w",
			where, b.opts.Bucket, code, err, backend.ErrPermanent)
	case badRequestCodes[code]:
		return fmt.Errorf("%s: the server refused the request (%s): check the bucket name, storage_class and sse settings: %w: %w",
			where, code, err, backend.ErrPermanent)
	}
	switch httpStatus(err) {
	case http.StatusNotFound:
		return fmt.Errorf("%s: %w", where, backend.ErrNotFound)
	case http.StatusForbidden, http.StatusUnauthorized:
		return fmt.Errorf("%s: access to bucket %q denied: check the access key and secret (AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY or the AWS profile) and the bucket policy: %w: %w: %w",
			where, b.opts.Bucket, err, backend.ErrCredentials, backend.ErrPermanent)
	}
	return fmt.Errorf("%s: %w", where, err)
}

func errorCode(err error) string {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return ae.ErrorCode()
	}
	return ""
}

func httpStatus(err error) int {
	var re *smithyhttp.ResponseError
	if errors.As(err, &re) {
		return re.HTTPStatusCode()
	}
	return 0
}

// isNotFound reports a 404 of any kind (HeadBucket and HeadObject have no
// body, so no error code).
func isNotFound(err error) bool {
	var notFound *types.NotFound
	var noBucket *types.NoSuchBucket
	return errors.As(err, &notFound) || errors.As(err, &noBucket) || httpStatus(err) == http.StatusNotFound
}

func isInvalidRange(err error) bool {
	return errorCode(err) == "InvalidRange" || httpStatus(err) == http.StatusRequestedRangeNotSatisfiable
}

// wrapWrite is wrap for a write. A write has nothing to be "not found"
// (a missing bucket is named as such): a 404 to a PUT, or NoSuchUpload
// when a part or the completion of a multipart upload is retried after a
// lost answer, is a glitch the retry wrapper should retry, not
// backend.ErrNotFound (which callers take as a final answer).
func (b *Backend) wrapWrite(op, key string, err error) error {
	w := b.wrap(op, key, err)
	if errors.Is(w, backend.ErrNotFound) {
		return fmt.Errorf("%s: the server answered \"not found\" to a write; retrying: %w", b.bucket.Op(op, key), err)
	}
	return w
}
