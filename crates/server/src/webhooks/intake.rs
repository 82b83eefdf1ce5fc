//! Group commit of accepted deliveries: handlers hand their delivery to one writer task, which
//! stores everything that queued up while its previous transaction was committing in the next
//! one. Each handler answers only after its delivery's transaction committed.

use std::sync::OnceLock;

use store::{ChangeStore as _, DeliveryInsert, NewDelivery, Store, StoreError};
use tokio::sync::{mpsc, oneshot};

use crate::AppError;

/// Most deliveries in one transaction.
const MAX_BATCH: usize = 512;
/// Most body bytes in one transaction (a batch holds at least one delivery).
const MAX_BATCH_BYTES: usize = 16 * 1024 * 1024;
/// Deliveries waiting for the writer before handlers wait to queue theirs.
const QUEUE: usize = 4096;

type Reply = oneshot::Sender<Result<DeliveryInsert, String>>;

/// The handle handlers insert through; the writer task starts with the first delivery.
#[derive(Debug, Default)]
pub(crate) struct Intake {
    queue: OnceLock<mpsc::Sender<(NewDelivery, Reply)>>,
}

impl Intake {
    /// Stores `delivery` (or finds it stored already); returns once that is committed.
    pub(crate) async fn insert(
        &self,
        store: &Store,
        delivery: NewDelivery,
    ) -> Result<DeliveryInsert, AppError> {
        let queue = self.queue.get_or_init(|| {
            let (tx, rx) = mpsc::channel(QUEUE);
            tokio::spawn(writer(store.clone(), rx));
            tx
        });
        let (reply, answer) = oneshot::channel();
        let stopped = || AppError::Store(StoreError::Task("the webhook intake stopped".to_owned()));
        queue.send((delivery, reply)).await.map_err(|_| stopped())?;
        answer
            .await
            .map_err(|_| stopped())?
            .map_err(|message| AppError::Store(StoreError::Other(message)))
    }
}

/// Stores queued deliveries, one transaction per batch, until every handle is gone.
async fn writer(store: Store, mut queue: mpsc::Receiver<(NewDelivery, Reply)>) {
    while let Some(first) = queue.recv().await {
        let mut bytes = first.0.body.len();
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH && bytes < MAX_BATCH_BYTES {
            match queue.try_recv() {
                Ok(next) => {
                    bytes += next.0.body.len();
                    batch.push(next);
                }
                Err(_) => break,
            }
        }
        let (deliveries, replies): (Vec<NewDelivery>, Vec<Reply>) = batch.into_iter().unzip();
        match store.insert_deliveries(deliveries).await {
            Ok(results) => {
                for (reply, result) in replies.into_iter().zip(results) {
                    let _ = reply.send(Ok(result));
                }
            }
            Err(e) => {
                tracing::error!(error = %e, "cannot store webhook deliveries");
                let message = e.to_string();
                for reply in replies {
                    let _ = reply.send(Err(message.clone()));
                }
            }
        }
    }
}
