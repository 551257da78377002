#include "binding/async_worker.h"

#include <exception>
#include <new>
#include <string>
#include <utility>

#include "binding/env_state.h"
#include "binding/errors.h"
#include "binding/host_staging.h"

namespace sqex::binding {
namespace {

constexpr int kNoLane = -2;  // not a staged host call (EnvState::kCpuLane is -1, devices >= 0)

// Runs `work` on the libuv thread pool and settles a promise with its Status (and `settle`).
// `work` and `settle` must own or keep alive everything they touch: see host_staging.h.
class StatusWorker : public Napi::AsyncWorker {
 public:
  // lane: the host-call lane of a staged host call (one of its calls runs at a time: EnvState),
  // or kNoLane.
  StatusWorker(const Napi::Env& env, std::function<Status()> work, Settle settle, int lane)
      : Napi::AsyncWorker(env, "squeeze-excite"),
        deferred_(Napi::Promise::Deferred::New(env)),
        work_(std::move(work)),
        settle_(std::move(settle)),
        lane_(lane) {}
  Napi::Promise Promise() const { return deferred_.Promise(); }

  // A waiting host call that napi_queue_async_work refused: its promise rejects.
  void RejectUnqueued(const Napi::Env& env) { RejectInternal(env, "the call could not be queued on the libuv pool"); }

 protected:
  // The next waiting host call is queued before this one settles, so that its work overlaps
  // this one's copies back into JS arrays.
  void OnWorkComplete(Napi::Env env, napi_status status) override {
    if (lane_ != kNoLane) StartNextHostCall(env, lane_);
    Napi::AsyncWorker::OnWorkComplete(env, status);  // settles the promise, then deletes this
  }

  // The handlers allocate nothing: when memory ran out, building a Status message (a std::string)
  // throws std::bad_alloc again, which node-addon-api turns into an uncoded Error("std::bad_alloc").
  // The coded error is made on the calling thread (OnOK) instead.
  void Execute() override {
    try {
      status_ = work_();
    } catch (const std::bad_alloc&) {
      out_of_memory_ = true;
    } catch (const std::exception& e) {
      try {
        status_ = Status::Error(StatusCode::Internal, e.what());
      } catch (...) {
        out_of_memory_ = true;
      }
    } catch (...) {
      try {
        status_ = Status::Error(StatusCode::Internal, "unknown native exception");
      } catch (...) {
        out_of_memory_ = true;
      }
    }
  }
  // node-addon-api calls OnOK through a wrapper that catches only Napi::Error (a std::bad_alloc
  // from building a message would reach std::terminate, and a Napi::Error would be thrown as an
  // uncaught exception instead of rejecting): every outcome settles the promise.
  // A deferred is concluded once: when Resolve/Reject itself threw (V8 refused it, e.g. a worker
  // being terminated), Node has already released it, so the handlers below try nothing more.
  void OnOK() override {
    Napi::Env env = Env();
    try {
      Complete(env);
    } catch (const Napi::Error& e) {
      if (!concluding_) Conclude([&] { deferred_.Reject(e.Value()); });
    } catch (const std::bad_alloc&) {
      RejectOutOfMemory(env);
    } catch (const std::exception& e) {
      RejectInternal(env, e.what());
    } catch (...) {
      RejectInternal(env, "unknown native exception");
    }
  }
  void OnError(const Napi::Error& e) override { deferred_.Reject(e.Value()); }

 private:
  // Runs `settle` (one Resolve or Reject) once; a throw from it propagates.
  template <class F>
  void Conclude(F&& settle) {
    concluding_ = true;
    settle();
  }

  // A coded Error made without the C++ heap where it can be (V8's heap only) when even the
  // message of OutOfMemoryError could not be built.
  void RejectOutOfMemory(const Napi::Env& env) {
    if (concluding_) return;
    try {
      Napi::Value oom = OutOfMemoryError(env, "host memory for the call", 0).Value();
      Conclude([&] { deferred_.Reject(oom); });
      return;
    } catch (...) {
    }
    if (concluding_) return;
    if (napi_value err = ErrorWithoutAllocating(env, "ERR_SQEX_OUT_OF_MEMORY", "squeeze-excite: out of host memory")) {
      try {
        Conclude([&] { deferred_.Reject(err); });
      } catch (...) {
      }
    }
  }

  void RejectInternal(const Napi::Env& env, const char* what) {
    if (concluding_) return;
    try {
      Napi::Value err = Coded(Napi::Error::New(env, std::string("squeeze-excite (native): internal error: ") + what),
                              "ERR_SQEX_INTERNAL").Value();
      Conclude([&] { deferred_.Reject(err); });
    } catch (...) {
      RejectOutOfMemory(env);
    }
  }

  void Complete(const Napi::Env& env) {
    if (out_of_memory_) {
      RejectOutOfMemory(env);
      return;
    }
    if (!status_.ok()) {
      Napi::Value err = ErrorFromStatus(env, status_).Value();
      Conclude([&] { deferred_.Reject(err); });
      return;
    }
    if (!settle_) {
      Conclude([&] { deferred_.Resolve(env.Undefined()); });
      return;
    }
    Napi::Error error;
    Napi::Value result = settle_(env, &error);
    if (!error.IsEmpty()) {
      Conclude([&] { deferred_.Reject(error.Value()); });
    } else {
      Conclude([&] { deferred_.Resolve(result); });
    }
  }

  Napi::Promise::Deferred deferred_;
  std::function<Status()> work_;
  Settle settle_;
  Status status_;
  bool out_of_memory_ = false;
  bool concluding_ = false;  // a Resolve or Reject has been attempted
  int lane_;

  static void StartNextHostCall(const Napi::Env& env, int lane);
};

// Whether JS can still run in env. Once a worker is terminated or ends, or its env is otherwise
// torn down, Node refuses every Node-API call that could run JS (the property functions among
// them) with napi_pending_exception, while it still completes the env's queued thread-pool work.
// An own-property test of a fresh object is such a call that runs none: no getter, no prototype.
bool CanRunJs(napi_env env) {
  napi_value object = nullptr, key = nullptr;
  bool has = false;
  return napi_create_object(env, &object) == napi_ok &&
         napi_create_string_utf8(env, "k", NAPI_AUTO_LENGTH, &key) == napi_ok &&
         napi_has_own_property(env, object, key, &has) == napi_ok;
}

// A lane's running host call has finished its work: the lane's first waiting call goes to the
// pool. When the env is being torn down the waiting ones are dropped instead (their staging memory
// freed, their promises never settled, as no JS will run again), so that teardown waits for the
// running calls only, not for every call queued before them.
void StatusWorker::StartNextHostCall(const Napi::Env& env, int lane) {
  EnvState::HostCallLane& calls = StateOf(env).host_call_lanes[lane];
  calls.running = false;
  if (calls.waiting.empty()) return;  // the usual case: no probe on that path
  if (!CanRunJs(env)) {
    calls.waiting.clear();
    return;
  }
  while (!calls.waiting.empty()) {
    std::unique_ptr<Napi::AsyncWorker> next = std::move(calls.waiting.front());
    calls.waiting.pop_front();
    if (napi_queue_async_work(env, *next) == napi_ok) {
      (void)next.release();  // the pool has it; it deletes itself once complete
      calls.running = true;
      return;
    }
    // The lane reads as busy while the refused call rejects: a rejection can run JS (a promise
    // hook), and a call it makes on this lane must wait here, not start beside the one this loop
    // may queue next (a review, 2026-12-05).
    calls.running = true;
    static_cast<StatusWorker*>(next.get())->RejectUnqueued(env);
    calls.running = false;
  }
}

Napi::Promise QueueWorker(const Napi::Env& env, std::function<Status()> work, Settle settle, int lane) {
  std::unique_ptr<StatusWorker> worker(new StatusWorker(env, std::move(work), std::move(settle), lane));
  Napi::Promise promise = worker->Promise();
  EnvState::HostCallLane* calls = lane == kNoLane ? nullptr : &StateOf(env).host_call_lanes[lane];
  if (calls != nullptr && calls->running) {
    calls->waiting.push_back(std::move(worker));
    return promise;
  }
  worker->Queue();  // throws when refused: nothing of the lane is running then
  if (calls != nullptr) calls->running = true;
  (void)worker.release();  // queued: it deletes itself once complete
  return promise;
}

}  // namespace

Napi::Promise Queue(const Napi::Env& env, std::function<Status()> work, Settle settle) {
  return QueueWorker(env, std::move(work), std::move(settle), kNoLane);
}

Napi::Promise QueueStaged(const Napi::Env& env, std::shared_ptr<StagedHostCall> call, int lane,
                          std::function<Status(const Weights&, const Tensors&)> work) {
  return QueueWorker(
      env,
      [call, work] {
        Status s = call->AcquireOutputs();
        if (!s.ok()) return s;
        s = work(call->weights(), call->tensors());
        call->MarkWritten();
        return s;
      },
      [call](const Napi::Env& e, Napi::Error* error) { return call->Settle(e, error); }, lane);
}

}  // namespace sqex::binding
