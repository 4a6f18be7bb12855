// The error type of credential resolution: a gRPC-style status code plus a message that says
// what to fix. Messages never contain secret values or tokens.

export type CredentialsErrorCode =
  'INVALID_ARGUMENT' | 'UNAUTHENTICATED' | 'PERMISSION_DENIED' | 'UNAVAILABLE' | 'FAILED_PRECONDITION';

export class CredentialsError extends Error {
  override name = 'CredentialsError';
  constructor(
    readonly code: CredentialsErrorCode,
    message: string,
    options?: ErrorOptions,
  ) {
    super(message, options);
  }
}
