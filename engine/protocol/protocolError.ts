/** A frame that does not parse: the connection answers with an error or closes. */
export class ProtocolError extends Error {
  readonly code = 'SLUICE_PROTOCOL_INVALID_FRAME';
  override name = 'ProtocolError';
}
