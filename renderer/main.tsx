import { StrictMode } from 'react';
import { createRoot } from 'react-dom/client';
import { QueryClient, QueryClientProvider } from '@tanstack/react-query';
import { App } from './App';
import { retryable } from './api/isd';
import './styles.css';

const queryClient = new QueryClient({
  defaultOptions: {
    // Main pushes changes as events; refetching on focus would only add load.
    // A refused input or a missing run will not change on retry; a dropped connection may.
    queries: { refetchOnWindowFocus: false, staleTime: 5_000, retry: (count, error) => count < 2 && retryable(error) },
  },
});

createRoot(document.getElementById('root')!).render(
  <StrictMode>
    <QueryClientProvider client={queryClient}>
      <App />
    </QueryClientProvider>
  </StrictMode>,
);
