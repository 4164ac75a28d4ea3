package s3blob

import (
	"context"
	"errors"
	"net/http"
	"testing"

	"github.com/minio/minio-go/v7"

	"pier/storage"
)

// TestFullService: the S3 answers of a service without room are
// storage.ErrFull; other errors are not.
func TestFullService(t *testing.T) {
	for _, r := range []minio.ErrorResponse{
		{Code: "XMinioStorageFull", StatusCode: http.StatusInsufficientStorage},
		{Code: "XMinioAdminBucketQuotaExceeded", StatusCode: http.StatusBadRequest},
		{Code: "QuotaExceeded", StatusCode: http.StatusForbidden},
		{Code: "SomethingNew", StatusCode: http.StatusInsufficientStorage},
	} {
		if err := failure(context.Background(), r); !errors.Is(err, storage.ErrFull) {
			t.Errorf("%s: %v", r.Code, err)
		}
	}
	for _, r := range []minio.ErrorResponse{{Code: "AccessDenied", StatusCode: 403}, {Code: "NoSuchBucket", StatusCode: 404}} {
		if err := failure(context.Background(), r); errors.Is(err, storage.ErrFull) {
			t.Errorf("%s became %v", r.Code, err)
		}
	}
}
