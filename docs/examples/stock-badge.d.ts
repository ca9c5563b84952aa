export interface StoreStock {
  storeId: string;
  sku: string;
  onHand: number;
  held: number;
  available: number;
  deficit: number;
  online: boolean;
}
export function watchStock(opts: {
  hubUrl: string;
  readKey: string;
  sku: string;
  onChange: (s: { sku: string; available: number; stores: StoreStock[] }) => void;
  EventSource?: unknown;
  fetch?: typeof fetch;
}): () => void;
export function holdCart(opts: {
  hubUrl: string;
  reserveKey: string;
  cartKey: string;
  lines: { sku: string; qty: number }[];
  fetch?: typeof fetch;
}): Promise<{ ok: true; reservation: { id: string; storeId: string; status: string; expiresAt: string } } | { ok: false; status: number; error: { code: string; message: string } }>;
